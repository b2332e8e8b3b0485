<?xml version="1.0" encoding="utf-8"?>
<!DOCTYPE TS>
<TS version="2.1" language="fr_FR">
<context>
    <name>KioskWindow</name>
    <message>
        <location filename="../kiosk_window.py" line="165"/>
        <source>Something did not work. Please try again, or press the help button.</source>
        <translation>Quelque chose n’a pas fonctionné. Réessayez, ou appuyez sur le bouton d’aide.</translation>
    </message>
    <message>
        <location filename="../kiosk_window.py" line="209"/>
        <source>Welcome to the medical cabin</source>
        <translation>Bienvenue dans la cabine médicale</translation>
    </message>
    <message>
        <location filename="../kiosk_window.py" line="210"/>
        <source>A doctor can see you by video here. Touch the button to begin.</source>
        <translation>Ici, un médecin vous reçoit en vidéo. Touchez le bouton pour commencer.</translation>
    </message>
    <message>
        <location filename="../kiosk_window.py" line="211"/>
        <source>Start</source>
        <translation>Commencer</translation>
    </message>
    <message>
        <location filename="../kiosk_window.py" line="220"/>
        <source>Hello</source>
        <translation>Bonjour</translation>
    </message>
    <message>
        <location filename="../kiosk_window.py" line="222"/>
        <source>The consultation takes about twenty minutes: a few measurements, then a video call with a doctor.</source>
        <translation>La consultation dure environ vingt minutes : quelques mesures, puis un appel vidéo avec un médecin.</translation>
    </message>
    <message>
        <location filename="../kiosk_window.py" line="226"/>
        <location filename="../kiosk_window.py" line="260"/>
        <location filename="../kiosk_window.py" line="332"/>
        <source>Continue</source>
        <translation>Continuer</translation>
    </message>
    <message>
        <location filename="../kiosk_window.py" line="227"/>
        <location filename="../kiosk_window.py" line="307"/>
        <location filename="../kiosk_window.py" line="315"/>
        <source>Stop</source>
        <translation>Arrêter</translation>
    </message>
    <message>
        <location filename="../kiosk_window.py" line="240"/>
        <source>DD/MM/YYYY</source>
        <translation>JJ/MM/AAAA</translation>
    </message>
    <message>
        <location filename="../kiosk_window.py" line="241"/>
        <source>Family name</source>
        <translation>Nom</translation>
    </message>
    <message>
        <location filename="../kiosk_window.py" line="242"/>
        <source>Given names</source>
        <translation>Prénoms</translation>
    </message>
    <message>
        <location filename="../kiosk_window.py" line="243"/>
        <source>Date of birth</source>
        <translation>Date de naissance</translation>
    </message>
    <message>
        <location filename="../kiosk_window.py" line="250"/>
        <source>Please check your name and your date of birth.</source>
        <translation>Vérifiez votre nom et votre date de naissance.</translation>
    </message>
    <message>
        <location filename="../kiosk_window.py" line="257"/>
        <source>Who are you?</source>
        <translation>Qui êtes-vous ?</translation>
    </message>
    <message>
        <location filename="../kiosk_window.py" line="258"/>
        <source>Your name and date of birth let the doctor find your record.</source>
        <translation>Votre nom et votre date de naissance permettent au médecin de retrouver votre dossier.</translation>
    </message>
    <message>
        <location filename="../kiosk_window.py" line="261"/>
        <source>Back</source>
        <translation>Retour</translation>
    </message>
    <message>
        <location filename="../kiosk_window.py" line="269"/>
        <source>Your agreement</source>
        <translation>Votre accord</translation>
    </message>
    <message>
        <location filename="../kiosk_window.py" line="271"/>
        <source>Your measurements and the consultation are recorded in your medical file, encrypted, and shared only with the doctors who treat you. Nothing is shown to the next person.</source>
        <translation>Vos mesures et la consultation sont enregistrées dans votre dossier médical, chiffré, et partagées seulement avec les médecins qui vous soignent. Rien n’est montré à la personne suivante.</translation>
    </message>
    <message>
        <location filename="../kiosk_window.py" line="276"/>
        <source>I agree</source>
        <translation>J’accepte</translation>
    </message>
    <message>
        <location filename="../kiosk_window.py" line="277"/>
        <source>I do not agree</source>
        <translation>Je refuse</translation>
    </message>
    <message>
        <location filename="../kiosk_window.py" line="284"/>
        <source>Systolic pressure (mmHg)</source>
        <translation>Pression systolique (mmHg)</translation>
    </message>
    <message>
        <location filename="../kiosk_window.py" line="285"/>
        <source>Diastolic pressure (mmHg)</source>
        <translation>Pression diastolique (mmHg)</translation>
    </message>
    <message>
        <location filename="../kiosk_window.py" line="286"/>
        <source>Mean pressure (mmHg)</source>
        <translation>Pression moyenne (mmHg)</translation>
    </message>
    <message>
        <location filename="../kiosk_window.py" line="287"/>
        <source>Pulse (beats per minute)</source>
        <translation>Pouls (battements par minute)</translation>
    </message>
    <message>
        <location filename="../kiosk_window.py" line="288"/>
        <source>Temperature (°C)</source>
        <translation>Température (°C)</translation>
    </message>
    <message>
        <location filename="../kiosk_window.py" line="289"/>
        <source>Oxygen saturation (%)</source>
        <translation>Saturation en oxygène (%)</translation>
    </message>
    <message>
        <location filename="../kiosk_window.py" line="290"/>
        <source>Perfusion index (%)</source>
        <translation>Indice de perfusion (%)</translation>
    </message>
    <message>
        <location filename="../kiosk_window.py" line="297"/>
        <source>No measurement taken yet.</source>
        <translation>Aucune mesure prise pour l’instant.</translation>
    </message>
    <message>
        <location filename="../kiosk_window.py" line="299"/>
        <source>Your measurements</source>
        <translation>Vos mesures</translation>
    </message>
    <message>
        <location filename="../kiosk_window.py" line="304"/>
        <source>Go to the doctor</source>
        <translation>Aller voir le médecin</translation>
    </message>
    <message>
        <location filename="../kiosk_window.py" line="313"/>
        <source>A doctor will answer you</source>
        <translation>Un médecin va vous répondre</translation>
    </message>
    <message>
        <location filename="../kiosk_window.py" line="314"/>
        <source>Please stay seated. The doctor will appear on this screen.</source>
        <translation>Restez assis. Le médecin va apparaître sur cet écran.</translation>
    </message>
    <message>
        <location filename="../kiosk_window.py" line="320"/>
        <source>With the doctor</source>
        <translation>Avec le médecin</translation>
    </message>
    <message>
        <location filename="../kiosk_window.py" line="321"/>
        <source>Speak normally; the doctor sees and hears you.</source>
        <translation>Parlez normalement : le médecin vous voit et vous entend.</translation>
    </message>
    <message>
        <location filename="../kiosk_window.py" line="327"/>
        <source>The consultation is over</source>
        <translation>La consultation est terminée</translation>
    </message>
    <message>
        <location filename="../kiosk_window.py" line="328"/>
        <source>Your documents are printed below the screen.</source>
        <translation>Vos documents sont imprimés sous l’écran.</translation>
    </message>
    <message>
        <location filename="../kiosk_window.py" line="343"/>
        <source>How was your consultation?</source>
        <translation>Comment s’est passée votre consultation ?</translation>
    </message>
    <message>
        <location filename="../kiosk_window.py" line="344"/>
        <source>One touch is enough.</source>
        <translation>Un seul appui suffit.</translation>
    </message>
    <message>
        <location filename="../kiosk_window.py" line="346"/>
        <source>Good</source>
        <translation>Bien</translation>
    </message>
    <message>
        <location filename="../kiosk_window.py" line="347"/>
        <source>Average</source>
        <translation>Moyen</translation>
    </message>
    <message>
        <location filename="../kiosk_window.py" line="348"/>
        <source>Bad</source>
        <translation>Mal</translation>
    </message>
    <message>
        <location filename="../kiosk_window.py" line="355"/>
        <source>Thank you, goodbye</source>
        <translation>Merci, au revoir</translation>
    </message>
    <message>
        <location filename="../kiosk_window.py" line="357"/>
        <source>Please wipe the cuff, the thermometer and the finger clip with a wipe from the box, then press Done.</source>
        <translation>Essuyez le brassard, le thermomètre et la pince du doigt avec une lingette de la boîte, puis appuyez sur Terminé.</translation>
    </message>
    <message>
        <location filename="../kiosk_window.py" line="360"/>
        <source>Done</source>
        <translation>Terminé</translation>
    </message>
    <message>
        <location filename="../kiosk_window.py" line="370"/>
        <source>Are you still there?</source>
        <translation>Êtes-vous toujours là ?</translation>
    </message>
    <message numerus="yes">
        <location filename="../kiosk_window.py" line="371"/>
        <source>Without an answer, the consultation stops in %n seconds.</source>
        <translation>
            <numerusform>Sans réponse, la consultation s’arrête dans %n seconde.</numerusform>
            <numerusform>Sans réponse, la consultation s’arrête dans %n secondes.</numerusform>
        </translation>
    </message>
    <message>
        <location filename="../kiosk_window.py" line="372"/>
        <source>I am here</source>
        <translation>Je suis là</translation>
    </message>
    <message>
        <location filename="../kiosk_window.py" line="378"/>
        <source>Help is coming</source>
        <translation>Quelqu’un arrive</translation>
    </message>
    <message>
        <location filename="../kiosk_window.py" line="379"/>
        <source>Stay calm. Someone has been told and will come to you.</source>
        <translation>Restez calme. Quelqu’un a été prévenu et va venir vous aider.</translation>
    </message>
    <message>
        <location filename="../kiosk_window.py" line="380"/>
        <source>I am fine</source>
        <translation>Je vais bien</translation>
    </message>
    <message>
        <location filename="../kiosk_window.py" line="386"/>
        <source>Assistant mode</source>
        <translation>Mode assistant</translation>
    </message>
    <message>
        <location filename="../kiosk_window.py" line="387"/>
        <source>For the nurse or the agent of the cabin.</source>
        <translation>Pour l’infirmier ou l’agent de la cabine.</translation>
    </message>
    <message>
        <location filename="../kiosk_window.py" line="388"/>
        <source>Leave</source>
        <translation>Quitter</translation>
    </message>
</context>
</TS>
